"""Faces: detection, alignment, embeddings, the SQLite gallery, search and live recognition.

Follow the data: detectors.py (frame -> boxes, landmarks: dlib's MMOD + 5 points, YuNet,
Haar) -> align.py (-> 160x160 gallery chips) -> embedders.py (chips -> vectors; dlib's
ResNet on dlib's own chip, FaceNet, SFace, classical LBP) -> search.py / recognizer.py
(vectors -> nearest person) -> tracking.py (stable labels) -> task.py (the live Task,
one FacesSettings snapshot). gallery.py stores people, shots and vectors; gallery_io.py
exports/imports them; quality.py judges enrolment shots; jobs.py holds the enrolment and
re-embedding jobs shared by the CLI and the GUI; calibration.py measures a gallery's ROC;
controller.py is the Faces tab's state without Qt; catalog.py describes every model.

dlib's public-domain models, ported: dlib_format.py (its serialisation), dlib_dnn.py (dnn
layer records), dlib_resnet.py, dlib_mmod.py (+ dlib_pyramid.py), dlib_shape.py,
dlib_chip.py, dlib_models.py (where the package keeps the files). No Qt here.
"""
