"""Entry point of the desktop build (PyInstaller): the same ``latexsnip`` command line."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen app re-runs this file for worker processes
    from latexsnip.cli import main

    raise SystemExit(main())
