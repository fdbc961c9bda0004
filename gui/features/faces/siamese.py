"""The Siamese view (the course's triplet picture): an anchor, a positive (same person)
and a negative (someone else), their aligned chips, d(A,P), d(A,N) and the margin; the
anchor can be the live camera face."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGridLayout, QLabel, QVBoxLayout, QWidget

from gui.features.faces.thumbs import chip_pixmap

CAMERA = "Camera (largest face)"
ALPHA = 0.2  # the margin a triplet loss asks for, in the embedder's distance units


class SiamesePanel(QWidget):
    """Signals: picks_changed() — the anchor/positive/negative choice changed."""

    picks_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.anchor_combo = QComboBox()
        self.anchor_combo.setObjectName("facesAnchor")
        self.positive_combo = QComboBox()
        self.positive_combo.setObjectName("facesPositive")
        self.negative_combo = QComboBox()
        self.negative_combo.setObjectName("facesNegative")
        for combo in (self.anchor_combo, self.positive_combo, self.negative_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
            combo.currentIndexChanged.connect(self.picks_changed)
        form = QFormLayout()
        form.addRow("Anchor", self.anchor_combo)
        form.addRow("Positive", self.positive_combo)
        form.addRow("Negative", self.negative_combo)
        self.positive_combo.setToolTip("the same person as the anchor")
        self.negative_combo.setToolTip("someone else")
        grid = QGridLayout()
        self.chip_labels = []
        for i, title in enumerate(("A", "P", "N")):
            chip = QLabel()
            chip.setFixedSize(96, 96)
            chip.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(QLabel(title), 0, i, Qt.AlignmentFlag.AlignHCenter)
            grid.addWidget(chip, 1, i)
            self.chip_labels.append(chip)
        self.result_label = QLabel("Pick a positive and a negative from the gallery.")
        self.result_label.setObjectName("facesTriplet")
        self.result_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(grid)
        layout.addWidget(self.result_label)

    def set_people(self, names: list[str]) -> None:
        for combo, extra in ((self.anchor_combo, [CAMERA]), (self.positive_combo, []), (self.negative_combo, [])):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(extra + names)
            if current in extra + names:
                combo.setCurrentText(current)
            combo.blockSignals(False)
        if len(names) > 1 and self.negative_combo.currentText() == self.positive_combo.currentText():
            self.negative_combo.setCurrentIndex(1)

    def picks(self) -> tuple[str, str, str]:
        return self.anchor_combo.currentText(), self.positive_combo.currentText(), self.negative_combo.currentText()

    def show_triplet(self, chips, triplet) -> None:
        for label, chip in zip(self.chip_labels, chips):
            if chip is None:
                label.clear()
            else:
                label.setPixmap(chip_pixmap(chip, 96))
        if triplet is None:
            return
        verdict = "satisfied" if triplet.margin > ALPHA else "violated" if triplet.margin < 0 else "inside the margin"
        self.result_label.setText(
            f"d(A,P) = {triplet.d_ap:.3f}   d(A,N) = {triplet.d_an:.3f}   margin d(A,N) − d(A,P) = "
            f"{triplet.margin:+.3f} — triplet {verdict} (loss with α = {ALPHA:g}: {triplet.loss(ALPHA):.3f})"
        )

    def show_message(self, text: str) -> None:
        self.result_label.setText(text)

    def update_from(self, ctl) -> None:
        """Recompute the triplet with a FacesController (its gallery, embedder and last result)."""
        from engine.features.faces.gallery import GalleryError

        anchor, positive, negative = self.picks()
        if not positive or not negative:
            self.show_message("Pick a positive and a negative from the gallery (two people needed).")
            return
        try:
            p_shots = ctl.shot_chips(positive)
            n_chip = ctl.shot_chips(negative)[0]
            if anchor == CAMERA:
                live = ctl.live_anchor()
                if live is None:
                    self.show_message("No face from the camera yet (recognise or verify mode).")
                    return
                a_chip, a_vec = live
                p_chip = p_shots[0]
                p_vec, n_vec = ctl.embed_chips([p_chip, n_chip])
            else:
                a_chip = ctl.shot_chips(anchor)[0]
                p_chip = p_shots[1] if positive == anchor and len(p_shots) > 1 else p_shots[0]
                a_vec, p_vec, n_vec = ctl.embed_chips([a_chip, p_chip, n_chip])
        except (GalleryError, ValueError, IndexError) as exc:
            self.show_message(str(exc))
            return
        self.show_triplet((a_chip, p_chip, n_chip), ctl.triplet(a_vec, p_vec, n_vec))
