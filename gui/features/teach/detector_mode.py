"""Teach's Detector mode: capture frames from the live source, draw boxes and pick their
class, let the tracker carry the boxes to the next capture (dashed until confirmed),
review any picture, import/export the YOLO layout, train, evaluate, use in Detect.

A thin view over ``engine.features.teach.detection.session.DetectorSession``; the
project is opened the first time the mode is shown (``ensure_open``).

Keys while the mode is shown (``handle_key``, routed by the tab): C captures, 1…9 pick a
class (and give it to the selected box), Delete removes the selected box, Enter confirms
the carried boxes of the picture shown.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.core.errors import UserError
from engine.features.teach.detection.session import DetectorSession
from gui.common import file_dialogs
from gui.features.teach.box_canvas import BoxCanvas
from gui.features.teach.detector_lists import DetectorClassList, PictureStrip
from gui.features.teach.detector_training import DetectorTrainPanel
from gui.features.teach.import_row import ImportRow

log = logging.getLogger(__name__)
KEY_LAST = "Teach/last_detector"


class DetectorMode(QWidget):
    """The Detector page of the Teach tab (``context``: the tab's AppContext)."""

    def __init__(self, context, session: DetectorSession | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = session or DetectorSession()
        self.picture_id: str | None = None
        self._build()
        self.train_panel = DetectorTrainPanel(context, self.session, self)
        if self.train_panel.evaluation is not None:  # a worst picture double-clicked: relabel it
            self.train_panel.evaluation.picture_activated.connect(lambda r: self.show_picture(r.image_path.stem))
        self.layout().addWidget(self.train_panel)
        self.layout().addStretch(1)

    # -- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        self.project_label = QLabel()
        self.project_label.setObjectName("detectorProjectName")
        rows = []
        for pairs in ((("New…", self._new_project), ("Open…", self._open_project)),
                      (("Import YOLO folder…", self._ask_import), ("Export YOLO folder…", self._ask_export))):
            row = QHBoxLayout()
            for text, slot in pairs:
                button = QPushButton(text)
                button.clicked.connect(slot)
                row.addWidget(button)
            rows.append(row)
        self.import_summary = QLabel()
        self.import_summary.setObjectName("importSummary")
        self.import_summary.setWordWrap(True)
        self.import_summary.hide()
        self.importer = ImportRow(self.context, page=self)
        self.importer.ended.connect(self._imported)

        self.classes = DetectorClassList()
        self.classes.class_chosen.connect(self.choose_class)
        self.classes.add_requested.connect(self._ask_add_class)
        self.classes.rename_requested.connect(self._ask_rename_class)
        self.classes.remove_requested.connect(self._ask_remove_class)
        class_box = QGroupBox("Classes (keys 1–9)")
        QVBoxLayout(class_box).addWidget(self.classes)

        self.capture_button = QPushButton("Capture  [C]")
        self.capture_button.setObjectName("captureButton")
        self.capture_button.setToolTip("Store the live frame as a new picture")
        self.capture_button.clicked.connect(self.capture)
        self.carry_check = QCheckBox("carry boxes")
        self.carry_check.setChecked(True)
        self.carry_check.setToolTip("Track the last picture's boxes into the next capture; they show dashed "
                                    "until you confirm them (Enter) or fix them")
        self.carry_check.toggled.connect(lambda on: setattr(self.session, "carry", bool(on)))
        self.confirm_button = QPushButton("Confirm  [Enter]")
        self.confirm_button.setObjectName("confirmButton")
        self.confirm_button.clicked.connect(self.confirm)
        capture_row = QHBoxLayout()
        capture_row.addWidget(self.capture_button, 1)
        capture_row.addWidget(self.carry_check)
        capture_row.addWidget(self.confirm_button, 1)

        self.canvas = BoxCanvas()
        self.canvas.edited.connect(self._save_boxes)
        self.canvas.selection_changed.connect(self._selection_changed)
        self.hint = QLabel("Drag on the picture to draw a box; click a box to move it, drag its corners to resize, "
                           "Delete removes it.")
        self.hint.setObjectName("canvasHint")
        self.hint.setWordWrap(True)
        self.strip = PictureStrip()
        self.strip.picture_chosen.connect(self.show_picture)
        self.delete_picture_button = QPushButton("Delete picture")
        self.delete_picture_button.clicked.connect(self.delete_picture)
        self.count_label = QLabel()
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(self.delete_picture_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.project_label)
        for row in rows:
            layout.addLayout(row)
        layout.addWidget(self.importer)
        layout.addWidget(self.import_summary)
        layout.addWidget(class_box)
        layout.addLayout(capture_row)
        layout.addWidget(self.canvas)
        layout.addWidget(self.hint)
        layout.addWidget(self.strip)
        layout.addLayout(bottom)

    # -- project --------------------------------------------------------------------
    def ensure_open(self) -> None:
        """Open the last detector project (or create one) the first time the mode is shown."""
        if self.session.project is not None:
            return
        last = self.context.store.get(KEY_LAST, "")
        self._show_project(self.session.open_or_create(last or None))
        if self.session.open_problems:
            self.context.error("Detector project not opened", "\n\n".join(self.session.open_problems)
                               + f"\n\nOpened {self.session.project.name} instead.")

    def _show_project(self, project) -> None:
        self.context.store.set(KEY_LAST, str(project.root))
        self.project_label.setText(f"Detector project: <b>{project.name}</b>")
        self.project_label.setToolTip(str(project.root))
        self.picture_id = None
        self.canvas.set_picture(None)
        self.import_summary.hide()
        self._refresh_classes()
        self._rebuild_strip()
        self.train_panel.project_changed() if hasattr(self, "train_panel") else None

    def _new_project(self) -> None:
        name, ok = QInputDialog.getText(self, "New detector project", "Name:")
        if ok and name.strip():
            self._guard(lambda: self._show_project(self.session.new_project(name)))

    def _open_project(self) -> None:
        folder = file_dialogs.open_folder(self, "Open a detector project", start=str(self.session.projects_dir))
        if folder:
            self._guard(lambda: self._show_project(self.session.open_project(folder)))

    def _guard(self, action):
        try:
            return action()
        except UserError as exc:
            self.context.error("Teach detector", exc)
            return None

    # -- classes --------------------------------------------------------------------
    def _refresh_classes(self) -> None:
        project = self.session.project
        pictures = project.pictures()
        counts = [0] * len(project.classes)
        for info in pictures:
            for cls in project.picture(info.id).class_ids:
                counts[int(cls)] += 1
        self.classes.set_classes(project.classes, counts, self.session.current_class)
        self.canvas.set_class_names(project.classes)
        self.canvas.current_class = self.session.current_class

    def choose_class(self, index: int) -> bool:
        """Draw new boxes as class ``index``; the selected box (if any) gets it too."""
        if not self.session.choose_class(index):
            return False
        self.canvas.current_class = index
        self.classes.set_current(index)
        if self.canvas.set_selected_class(index):
            self._refresh_classes()
        return True

    def add_class(self, name: str) -> bool:
        index = self._guard(lambda: self.session.project.add_class(name))
        if index is None:
            return False
        self.session.choose_class(index)
        self._refresh_classes()
        return True

    def rename_class(self, index: int, name: str) -> bool:
        if self._guard(lambda: self.session.project.rename_class(index, name)) is None:
            return False
        self._refresh_classes()
        return True

    def remove_class(self, index: int, confirm_boxes: int | None = None) -> bool:
        project = self.session.project
        if self._guard(lambda: project.remove_class(index, confirm_boxes=confirm_boxes)) is None:
            return False
        self.session.choose_class(min(self.session.current_class, len(project.classes) - 1))
        self._refresh_classes()
        if self.picture_id is not None:
            self.show_picture(self.picture_id)
        self._rebuild_strip()
        return True

    def _ask_add_class(self) -> None:
        name, ok = QInputDialog.getText(self, "Add a class", "Name:")
        if ok and name.strip():
            self.add_class(name)

    def _ask_rename_class(self, index: int) -> None:
        project = self.session.project
        if 0 <= index < len(project.classes):
            name, ok = QInputDialog.getText(self, "Rename class", "Name:", text=project.classes[index])
            if ok and name.strip():
                self.rename_class(index, name)

    def _ask_remove_class(self, index: int) -> None:
        project = self.session.project
        if not 0 <= index < len(project.classes):
            return
        count = project.boxes_of_class(index)
        if count:
            answer = QMessageBox.question(self, "Remove class",
                                          f"Remove '{project.classes[index]}' and its {count} box(es) on the pictures?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.remove_class(index, confirm_boxes=count)

    # -- pictures -------------------------------------------------------------------
    def _rebuild_strip(self) -> None:
        project = self.session.project
        self.strip.clear()
        infos = project.pictures()
        for info in infos:
            self.strip.add_picture(info.id, self._thumb_image(info.id), info.boxes, info.unconfirmed)
        if self.picture_id is not None:
            self.strip.select(self.picture_id)
        self._count_changed(infos)

    def _thumb_image(self, picture_id: str):
        try:
            return self.session.project.load_image(picture_id)
        except UserError as exc:
            log.warning("thumbnail skipped: %s", exc)
            return None

    def _count_changed(self, infos=None) -> None:
        infos = self.session.project.pictures() if infos is None else infos
        boxes = sum(i.boxes for i in infos)
        todo = sum(i.unconfirmed for i in infos)
        self.count_label.setText(f"{len(infos)} picture(s), {boxes} box(es)" + (f", {todo} to confirm" if todo else ""))
        self.train_panel.data_changed() if hasattr(self, "train_panel") else None

    def show_picture(self, picture_id: str) -> bool:
        """Show picture ``picture_id`` on the canvas for review and editing."""
        project = self.session.project
        try:
            picture = project.picture(picture_id)
            image = project.load_image(picture_id)
        except UserError as exc:
            self.context.error("Cannot show the picture", exc)
            return False
        self.picture_id = picture_id
        self.canvas.set_picture(image, picture.boxes, picture.class_ids, picture.unconfirmed)
        self.strip.select(picture_id)
        return True

    def capture(self) -> bool:
        """Store the live frame as a new picture, with the tracker's proposals when carrying."""
        frame = self.context.latest_frame()
        if frame is None:
            self.context.status("Teach: no video is running — start a camera (Space) to capture frames")
            return False
        result = self._guard(lambda: self.session.capture(frame.image))
        if result is None:
            return False
        picture = result.picture
        self.strip.add_picture(picture.id, frame.image, len(picture.boxes), len(picture.unconfirmed))
        self.show_picture(picture.id)
        self._count_changed()
        if result.carried or result.lost:
            lost = f"; {result.lost} lost (draw them again)" if result.lost else ""
            self.context.status(f"Teach: {result.carried} box(es) carried — Enter confirms, or fix them{lost}")
        return True

    def _save_boxes(self) -> None:
        if self.picture_id is None:
            return
        c = self.canvas
        saved = self._guard(lambda: self.session.project.set_boxes(self.picture_id, c.boxes, c.class_ids,
                                                                   sorted(c.unconfirmed)))
        if saved is not None:
            if len(saved.boxes) != len(c.boxes):  # clipped away: show what was stored
                c.set_picture(None if not c.has_picture() else self.session.project.load_image(saved.id),
                              saved.boxes, saved.class_ids, saved.unconfirmed)
            self.strip.update_counts(saved.id, len(saved.boxes), len(saved.unconfirmed))
            self._refresh_classes()
            self._count_changed()

    def _selection_changed(self, index: int) -> None:
        if 0 <= index < len(self.canvas.class_ids):
            self.classes.set_current(int(self.canvas.class_ids[index]))

    def confirm(self) -> bool:
        """Confirm the carried boxes of the picture shown."""
        return self.canvas.confirm_all()

    def delete_box(self) -> bool:
        return self.canvas.delete_selected()

    def delete_picture(self) -> bool:
        if self.picture_id is None:
            return False
        pid = self.picture_id
        if self._guard(lambda: self.session.project.delete_picture(pid)) is None and pid in self.session.project.picture_ids():
            return False
        self.strip.remove_picture(pid)
        self.picture_id = None
        self.canvas.set_picture(None)
        self._refresh_classes()
        self._count_changed()
        return True

    # -- YOLO folders ---------------------------------------------------------------
    def _ask_import(self) -> None:
        folder = file_dialogs.open_folder(self, "Import a YOLO folder (classes.txt, images/, labels/)")
        if folder:
            self.import_yolo(folder)

    def import_yolo(self, folder: str) -> bool:
        """Start importing ``folder`` in the background (``importer``); False when an import
        runs already. The page is read-only until it ends; the summary shows then."""
        if self.importer.running or self.session.project is None:
            return False
        self.import_summary.hide()
        self.importer.start(self.session.project.import_yolo_job(folder), folder)
        return True

    def _imported(self, summary, done: int) -> None:
        if summary is None:  # failed (already shown) or cancelled: show what did arrive
            message = f"Import stopped after {done} picture(s); they stay in the project." if done else ""
        else:
            message = summary.message()
            self.import_summary.setToolTip("\n".join(str(p) for p in summary.report.problems[:30]))
        if message:
            self.import_summary.setText(message)
            self.import_summary.show()
            self.context.status(f"Teach: {message}")
        if done:
            self._refresh_classes()
            self._rebuild_strip()
            self._count_changed()

    def _ask_export(self) -> None:
        folder = file_dialogs.open_folder(self, "Export as a YOLO folder")
        if folder:
            self.export_yolo(folder)

    def export_yolo(self, folder: str) -> bool:
        path = self._guard(lambda: self.session.project.export_yolo(folder))
        if path is None:
            return False
        self.context.status(f"Teach: exported {len(self.session.project.picture_ids())} pictures to {path} (YOLO layout)")
        return True

    # -- keys -----------------------------------------------------------------------
    def handle_key(self, key: int, pressed: bool) -> bool:
        """The mode's plain keys (module docstring); True when one was used. While an
        import runs they are taken but do nothing (the page is read-only then)."""
        if Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            if pressed and not self.importer.running:
                self.choose_class(key - Qt.Key.Key_1)
            return True
        actions = {Qt.Key.Key_C: self.capture, Qt.Key.Key_Delete: self.delete_box, Qt.Key.Key_Backspace: self.delete_box,
                   Qt.Key.Key_Return: self.confirm, Qt.Key.Key_Enter: self.confirm}
        action = actions.get(Qt.Key(key))
        if action is None:
            return False
        if pressed and not self.importer.running:
            action()
        return True
