"""`xj.gallery(items)`: results as a searchable, selectable grid of cards
(widget.py), drawn by one anywidget (view.py, static/) with its pictures sent
on request (pictures.py), over results from any input (items.py)."""
