"""Static figures of engine results drawn with matplotlib (Agg, no display, no Qt).

The engine never imports this package: ``main.py`` hands the renderer to the commands that write
figures (``surface``), so ``run`` and ``sweep`` load neither matplotlib nor Qt.
"""
