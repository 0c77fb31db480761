"""Runs a test that needs the real reference slides, or skips it when they are not there.
The folder is $WSI_TEST_DATA when set, else ../shared/data beside the source tree; "{data}" in the
command is replaced by it. Missing files: prints why and exits 77, which ctest reports as skipped
(SKIP_RETURN_CODE 77, set in tests/CMakeLists.txt).
usage: with_data.py RELATIVE_PATH[,RELATIVE_PATH...] -- COMMAND [ARGS...]"""
import os
import sys

SKIP = 77


def data_dir():
    env = os.environ.get("WSI_TEST_DATA")
    if env:
        return env
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.normpath(os.path.join(root, "..", "shared", "data"))


def main(argv):
    if "--" not in argv or argv.index("--") != 2 or len(argv) < 4:
        sys.exit(__doc__)
    folder = data_dir()
    missing = [p for p in argv[1].split(",") if not os.path.exists(os.path.join(folder, p))]
    if missing:
        print(f"SKIPPED: reference data {', '.join(missing)} not found in {folder} "
              "(set WSI_TEST_DATA to the folder of the reference slides; see README.md)", flush=True)
        sys.exit(SKIP)
    command = [a.replace("{data}", folder) for a in argv[3:]]
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
