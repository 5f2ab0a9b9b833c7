"""Profile the emulator under wrk load with py-spy and print its hot spots by self and total time.

    python bench/hotspots.py                      # GET load, 10 s of samples
    python bench/hotspots.py --load POST --native # POST load, with C frames (SQLite, json, uvloop)
    python bench/hotspots.py --load MESSAGE       # message create (bench/run.py's conversation `bench`)
    python bench/hotspots.py --raw out.txt        # keep py-spy's collapsed stacks (flamegraph.pl input)
    python bench/hotspots.py --summarize out.txt  # summarize stacks recorded earlier
    python bench/hotspots.py --database postgresql+psycopg://postgres@127.0.0.1:5432/emulator

The emulator is started as bench/run.py starts it (`python -m twilio_conversations_emulator serve`, a
fresh SQLite file, the shipped fixtures).
Needs `py-spy` (`pip install py-spy`) and `wrk`, and the right to trace the process (root, or
`kernel.yama.ptrace_scope=0`). py-spy's default sampling pauses the process at each sample, so throughput
while profiling is lower than bench/run.py reports; the proportions are what matter here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.options import new_parser
from bench.run import LOAD_PATHS, LOADS, Wrk, create_message_conversation
from bench.servers import BenchError, emulator_process, running, webhooks_path
from bench.tools import ensure_wrk

# The emulator's own frames: files of the installed package (`app/` before the rename, in old profiles).
OWN_FILES = ("(twilio_conversations_emulator/", "(app/")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Profile:
    samples: int
    self_by_function: Counter[str]
    total_by_function: Counter[str]
    self_by_package: Counter[str]


def frame_key(frame: str) -> tuple[str, str]:
    """(`function (file)`, package) of a py-spy frame `function (file:line)`, line dropped."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), "?"
    function, file = match["function"], match["file"]
    if "site-packages/" in file:
        file = file.split("site-packages/", 1)[1]
    elif "/lib/python3" in file:
        file = "stdlib/" + file.split("/lib/python3", 1)[1].split("/", 1)[-1]
    package = file.split("/", 1)[0] if "/" in file else file
    if file.startswith(("<frozen", "stdlib/")):
        package = "stdlib"
    if file.endswith((".so", ".c")) or ("/" not in file and not file.endswith(".py")):
        package = f"native: {file}"
    return f"{function} ({file})", package


def summarize(lines: Sequence[str]) -> Profile:
    self_by_function: Counter[str] = Counter()
    total_by_function: Counter[str] = Counter()
    self_by_package: Counter[str] = Counter()
    samples = 0
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [frame_key(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        leaf, package = frames[-1]
        self_by_function[leaf] += count
        self_by_package[package] += count
        for key in {key for key, _ in frames}:
            total_by_function[key] += count
    return Profile(samples, self_by_function, total_by_function, self_by_package)


def render(profile: Profile, top: int) -> str:
    def share(count: int) -> str:
        return f"{100 * count / profile.samples:5.1f}%"

    lines = [f"{profile.samples} samples (without --idle, those of a waiting thread are left out)", ""]
    lines.append("Self time by package (the frame on top of the stack):")
    lines += [f"  {share(count)}  {key}" for key, count in profile.self_by_package.most_common(15)]
    lines += ["", f"Self time, top {top} functions:"]
    lines += [f"  {share(count)}  {key}" for key, count in profile.self_by_function.most_common(top)]
    # The server loop and the outer middleware are on nearly every stack: they say nothing.
    outer = {key for key, count in profile.total_by_function.items() if count >= 0.95 * profile.samples}
    inner = Counter({key: count for key, count in profile.total_by_function.items() if key not in outer})
    lines += ["", f"Total time (function anywhere on the stack), top {top}, without the {len(outer)} frames"]
    lines.append("on 95% or more of the stacks (server loop, outer middleware):")
    lines += [f"  {share(count)}  {key}" for key, count in inner.most_common(top)]
    project = Counter({key: count for key, count in inner.items() if any(own in key for own in OWN_FILES)})
    lines += ["", "Total time in the emulator's own functions:"]
    lines += [f"  {share(count)}  {key}" for key, count in project.most_common(top)]
    return "\n".join(lines)


def record(
    load: str, seconds: int, rate: int, native: bool, idle: bool, raw_path: Path, database: str | None
) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise BenchError("py-spy is not installed: pip install py-spy")
    wrk_executable = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="twilio-emulator-profile-") as temporary:
        folder = Path(temporary)
        wrk = Wrk(wrk_executable, folder, threads=2, connections=32)
        with running(emulator_process(database or folder / "profile.db", folder)) as emulator:
            if load == "MESSAGE":
                create_message_conversation(emulator)
            wrk.run(load, emulator, 1)  # warm-up
            load_process = subprocess.Popen(
                wrk.command(load, emulator.base_url + LOAD_PATHS.get(load, webhooks_path()), seconds + 2),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                time.sleep(1)
                command = [py_spy, "record", "--pid", str(emulator.pid), "--duration", str(seconds)]
                command += ["--rate", str(rate), "--format", "raw", "--output", str(raw_path)]
                if native:
                    command.append("--native")
                if idle:
                    command.append("--idle")
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            finally:
                output, _ = load_process.communicate(timeout=seconds + 60)
            summary = [
                line for line in output.splitlines() if line.startswith(("Requests/sec", "BENCH_RESULT"))
            ]
            print("\n".join(summary[:1]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = new_parser("bench/hotspots.py", __doc__)
    parser.add_argument("--load", choices=sorted(LOADS), default="GET", help="wrk load (default GET)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of samples (default 10)")
    parser.add_argument("--rate", type=int, default=200, help="samples per second (default 200)")
    parser.add_argument("--native", action="store_true", help="include C frames (slower sampling)")
    parser.add_argument(
        "--idle", action="store_true", help="keep samples of a waiting thread (fsync, epoll) too"
    )
    parser.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks in this file")
    parser.add_argument("--summarize", type=Path, metavar="RAW", help="only summarize a recorded file")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="the emulator's database (e.g. a fresh postgresql+psycopg:// one); default a fresh SQLite file",
    )
    arguments = parser.parse_args(argv)
    try:
        if arguments.summarize is not None:
            raw_path: Path = arguments.summarize
        else:
            raw_path = arguments.raw or Path(tempfile.mkstemp(prefix="py-spy-", suffix=".txt")[1])
            print(f"Profiling the emulator under the {arguments.load} load for {arguments.duration} s ...")
            record(
                arguments.load,
                arguments.duration,
                arguments.rate,
                arguments.native,
                arguments.idle,
                raw_path,
                arguments.database,
            )
            print(f"Collapsed stacks: {raw_path}")
        profile = summarize(raw_path.read_text().splitlines())
    except (BenchError, subprocess.CalledProcessError, OSError) as exc:
        print(f"hotspots: {exc}", file=sys.stderr)
        return 2
    if profile.samples == 0:
        print("hotspots: no samples recorded", file=sys.stderr)
        return 2
    print(render(profile, arguments.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
