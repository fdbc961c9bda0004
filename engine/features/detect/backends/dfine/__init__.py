"""D-FINE (a DETR-family real-time detector) in plain PyTorch.

config.py (config.json -> DFineSpec), layers.py / hgnet.py / encoder.py / decoder.py /
model.py (the network, keys of the released transformers-layout safetensors),
loading.py (a model folder -> SetDetector), entries.py (catalog entries dfine-n, dfine-s).
"""
