"""Start the streamrec API server: ``python platform.py [--host H] [--port P]``.

This file's name is the one existing deployments use, but it is also the name of Python's
standard ``platform`` module, which numpy, pydantic and FastAPI import. Any process started in
this folder finds this file first, so when it is imported as ``platform`` it loads the
standard-library module in its place and does nothing else.
"""

if __name__ == "platform":
    import importlib.util
    import os
    import sys
    import sysconfig

    _spec = importlib.util.spec_from_file_location(
        "platform", os.path.join(sysconfig.get_path("stdlib"), "platform.py")
    )
    _stdlib_platform = importlib.util.module_from_spec(_spec)
    sys.modules["platform"] = _stdlib_platform
    _spec.loader.exec_module(_stdlib_platform)
elif __name__ == "__main__":
    from streamrec.cli.serve import main

    raise SystemExit(main())
