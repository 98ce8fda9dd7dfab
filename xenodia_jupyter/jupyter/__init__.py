"""Everything that imports IPython or ipywidgets: the magics, the panel, display
helpers and the bridge to the kernel's event loop."""
