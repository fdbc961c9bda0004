"""The Teach tab's model box: backbone, untrained, head, fine-tuning depth, epochs, augmentation."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout

from engine.features.teach.backbone_specs import BACKBONES
from gui.common.fit_picture import FitPicture


class ModelSettingsBox(QGroupBox):
    """Emits ``edited`` when the user changes a value and ``preview_clicked`` for the augmentation preview."""

    edited = Signal()
    preview_clicked = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__("Model", parent)
        self.backbone_combo = QComboBox()
        for spec in BACKBONES.values():
            self.backbone_combo.addItem(spec.title, spec.name)
        self.backbone_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.backbone_combo.setMinimumContentsLength(12)
        self.untrained_check = QCheckBox("untrained")
        self.untrained_check.setToolTip("Random backbone weights: no download, much worse accuracy")
        self.head_combo = QComboBox()
        self.head_combo.addItems(["linear", "mlp"])
        self.head_combo.setToolTip("linear: softmax on the embedding; mlp: one hidden layer")
        self.finetune_spin = QSpinBox()
        self.finetune_spin.setRange(0, 8)
        self.finetune_spin.setPrefix("fine-tune last ")
        self.finetune_spin.setSuffix(" blocks")
        self.finetune_spin.setToolTip("0: only the head learns (little data). More data: unfreeze more blocks.")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setPrefix("≤ ")
        self.epochs_spin.setSuffix(" epochs")
        self.augment_check = QCheckBox("augment")
        self.augment_check.setToolTip("Mirror, random crops and colour jitter of the training samples")
        preview = QPushButton("Preview")
        preview.setToolTip("How augmentation varies the newest sample")
        preview.clicked.connect(self.preview_clicked)
        self.weights_label = QLabel()
        self.weights_label.setObjectName("weightsLabel")
        self.weights_label.setWordWrap(True)
        self.weights_label.setMinimumHeight(34)
        self.preview_label = FitPicture()
        self.preview_label.setObjectName("augmentPreview")
        for widget in (self.backbone_combo, self.head_combo):
            widget.currentIndexChanged.connect(self.edited)
        for widget in (self.untrained_check, self.augment_check):
            widget.toggled.connect(self.edited)
        for widget in (self.finetune_spin, self.epochs_spin):
            widget.valueChanged.connect(self.edited)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.backbone_combo, 1)
        row.addWidget(self.untrained_check)
        layout.addLayout(row)
        # Two short rows: the tab column must stay as narrow as the other tabs'.
        for widgets in ((self.head_combo, self.finetune_spin), (self.epochs_spin, self.augment_check, preview)):
            row = QHBoxLayout()
            for widget in widgets:
                row.addWidget(widget)
            layout.addLayout(row)
        layout.addWidget(self.weights_label)
        layout.addWidget(self.preview_label)

    def load(self, project) -> None:
        """Show ``project``'s backbone and training settings without emitting ``edited``."""
        s = project.train_settings
        widgets = (self.backbone_combo, self.untrained_check, self.head_combo, self.finetune_spin, self.epochs_spin,
                   self.augment_check)
        for w in widgets:
            w.blockSignals(True)
        self.backbone_combo.setCurrentIndex(max(0, self.backbone_combo.findData(project.backbone)))
        self.untrained_check.setChecked(project.untrained)
        self.head_combo.setCurrentText(s.head)
        self.finetune_spin.setValue(s.finetune)
        self.epochs_spin.setValue(s.epochs)
        self.augment_check.setChecked(s.augment.enabled)
        for w in widgets:
            w.blockSignals(False)

    def store(self, project) -> None:
        """Write the shown values into ``project``: its training settings, and its backbone
        when that choice differs from the project's."""
        from dataclasses import replace

        s = project.train_settings
        project.set_train_settings(replace(s, head=self.head_combo.currentText(), finetune=self.finetune_spin.value(),
                                           epochs=self.epochs_spin.value(),
                                           augment=replace(s.augment, enabled=self.augment_check.isChecked())))
        backbone = (self.backbone_combo.currentData(), self.untrained_check.isChecked())
        if backbone != (project.backbone, project.untrained):
            project.set_backbone(*backbone)

    def preview(self, project) -> bool:
        """Show how augmentation varies ``project``'s newest sample (8 tiles of 72 px);
        False when it has no sample yet."""
        import cv2

        from engine.features.teach.imaging import preview
        from engine.features.teach.settings import AugmentSettings
        from gui.features.teach.training import pixmap_of

        samples = project.samples()
        if not samples:
            return False
        tiles = preview(project.load_sample(samples[-1]), project.train_settings.augment or AugmentSettings(),
                        count=8, size=72)
        self.set_preview(pixmap_of(cv2.hconcat(tiles)))
        return True

    def set_preview(self, pixmap) -> None:
        self.preview_label.set_picture(pixmap)
