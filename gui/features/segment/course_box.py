"""What the course teaches about segmentation, in the Segment tab: the decoder's upsampling
path (``DecoderView``: each stage's output drawn at its own resolution, pixel blocks and
all, with its size, stride, depth and whether the next resolution comes from bilinear
upsampling or a transposed convolution) and Grad-CAM for a class region (class and layer
chosen here; the heat map is drawn over the picture by the tab)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QWidget

from engine.features.segment.catalog import VOC_CLASSES


def to_qimage(bgr: np.ndarray) -> QImage:
    """(h, w, 3) uint8 BGR -> a QImage that owns a copy of the pixels."""
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def stride_text(stride: float) -> str:
    """"16" for 16.0, "≈16" for 15.5 (a side that is not a multiple of the stride is rounded up)."""
    near = round(stride)
    return f"{near}" if abs(stride - near) < 0.05 else f"≈{near}"


class DecoderView(QWidget):
    """The stages (``stages.StageView``) side by side, coarse to fine; each preview scaled by
    nearest neighbour so one stage pixel is one visible block."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("segmentDecoderView")
        self.setMinimumHeight(200)
        self.views: tuple = ()
        self._images: list[QImage] = []

    def show_stages(self, views: tuple) -> None:
        self.views = tuple(views)
        self._images = [to_qimage(v.preview) for v in self.views]
        self.update()

    def captions(self) -> list[str]:
        """One line per stage: name, size, stride, depth and the operation to the next resolution."""
        lines = []
        for view in self.views:
            s = view.stage
            line = f"{s.name}: {s.size[0]}x{s.size[1]}, stride {stride_text(s.stride)}, {s.channels} ch"
            lines.append(line + (f" → {s.op}" if s.op else ""))
        return lines

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 30, 30))
        if not self.views:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The stages appear with the next frame")
            return
        n = len(self.views)
        gap = 6
        cell_w = (self.width() - gap * (n + 1)) / n
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        line = painter.fontMetrics().height()
        caption_h = 6 * line + 4
        cell_h = self.height() - caption_h - 2 * gap
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # blocks, not blur
        flags = int(Qt.AlignmentFlag.AlignHCenter) | int(Qt.TextFlag.TextWordWrap)
        for i, (view, image) in enumerate(zip(self.views, self._images)):
            x = gap + i * (cell_w + gap)
            w, h = image.width(), image.height()
            k = min(cell_w / w, cell_h / h)
            target = QRectF(x + (cell_w - w * k) / 2, gap + (cell_h - h * k) / 2, w * k, h * k)
            painter.drawImage(target, image)
            s = view.stage
            painter.setPen(QColor(230, 230, 230))
            text = f"{s.name}\n{s.size[0]}x{s.size[1]}, /{stride_text(s.stride)}\n{s.channels} ch"
            if s.op:
                factor = "to the frame" if s.name == "logits at the input" else f"x{stride_text(s.stride)}"
                text += f"\n→ {s.op} {factor}"
            painter.drawText(QRectF(x, gap + cell_h + 2, cell_w, caption_h), flags, text)
        painter.end()


class CourseBox(QGroupBox):
    """Signals: ``stages(bool)``, ``cam(object)`` (class id or None), ``cam_layer(str)``."""

    stages = Signal(bool)
    cam = Signal(object)
    cam_layer = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("How it works", parent)
        self.stages_check = QCheckBox("Decoder path: each stage at its resolution")
        self.stages_check.toggled.connect(self._stages_toggled)
        self.decoder_view = DecoderView()
        self.decoder_view.setVisible(False)
        self.cam_check = QCheckBox("Grad-CAM of")
        self.cam_check.setToolTip("Gradient of the class's summed logits over its region, at the chosen layer: "
                                  "where that layer's features made the region that class")
        self.cam_class = QComboBox()
        for class_id, name in enumerate(VOC_CLASSES):
            if class_id:
                self.cam_class.addItem(name, class_id)
        self.cam_class.setCurrentIndex(self.cam_class.findData(VOC_CLASSES.index("person")))
        self.cam_layer_combo = QComboBox()
        self.cam_check.toggled.connect(lambda _on: self._cam_changed())
        self.cam_class.currentIndexChanged.connect(lambda _i: self._cam_changed())
        self.cam_layer_combo.currentIndexChanged.connect(lambda _i: self._cam_changed())
        self.atrous_label = QLabel("DeepLabV3: point at the picture to see the atrous rates' taps around that pixel")
        self.atrous_label.setWordWrap(True)
        cam_row = QHBoxLayout()
        cam_row.addWidget(self.cam_check)
        cam_row.addWidget(self.cam_class, 1)
        cam_row.addWidget(QLabel("at"))
        cam_row.addWidget(self.cam_layer_combo, 1)
        form = QFormLayout(self)
        form.addRow(self.stages_check)
        form.addRow(self.decoder_view)
        form.addRow(cam_row)
        form.addRow(self.atrous_label)

    def set_layers(self, layers: list[str]) -> None:
        self.cam_layer_combo.blockSignals(True)
        self.cam_layer_combo.clear()
        for name in layers:
            self.cam_layer_combo.addItem(name, name)
        self.cam_layer_combo.blockSignals(False)

    def _stages_toggled(self, on: bool) -> None:
        self.decoder_view.setVisible(on)
        if not on:
            self.decoder_view.show_stages(())
        self.stages.emit(on)

    def _cam_changed(self) -> None:
        self.cam_layer.emit(self.cam_layer_combo.currentData() or "")
        self.cam.emit(int(self.cam_class.currentData()) if self.cam_check.isChecked() else None)
