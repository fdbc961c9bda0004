"""Faces: detection, alignment, embeddings, the SQLite gallery, search and live recognition.

Follow the data: detectors.py (frame -> boxes, landmarks) -> align.py (-> 160x160 chips)
-> embedders.py (chips -> unit vectors; lbp.py, inception_resnet_v1.py + facenet.py,
OpenCV's SFace) -> search.py / recognizer.py (vectors -> nearest person) ->
tracking.py (stable labels) -> task.py (the live Task). gallery.py stores people, shots
and vectors; gallery_io.py exports/imports them; quality.py judges enrolment shots;
catalog.py lists the downloadable models. No Qt here.
"""
