"""YOLOX (Megvii's published design, written for this app), shared by Detect (which runs
it) and Teach (which trains it): the network (``model``), its grid of points (``grid``)
and the detector model folder (``folder``: config.json + model.safetensors + classes.txt)."""
