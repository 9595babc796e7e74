"""The cross-language benchmark, in one go (see BENCHMARKS.md): builds every path, starts a JWKS
server on loopback, runs interleaved rounds of every path on the same keys and tokens
(bench/fixtures), counts instructions with callgrind for the gate, and measures lookup,
scaling, memory, the cold path and the cost of a cgo call. Prints a Markdown report and writes
it to target/bench/report.md.

    bench/run.sh [--rounds N] [--millis MS] [--quick]

--quick runs two short rounds and skips the million-verification memory run (to try the
script, not to quote its figures).
"""

import argparse
import http.server
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
FIXTURES = ROOT / "bench" / "fixtures"
ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
GATE = 12000  # instructions the C ABI may add per verification over the floor (issue 22)

# Rows of the table, in order: (key, label).
ROWS = [
    ("floor", "floor: aws-lc-rs `ParsedPublicKey::verify_sig`, key parsed once"),
    ("rust", "libjwks, Rust API `Client::verify`"),
    ("c", "libjwks, C ABI `jwks_client_verify` (C program, static library)"),
    ("cpp", "libjwks, C++ wrapper `client.verify`"),
    ("go", "libjwks, Go binding `Verify`"),
    ("cgo-loop", "plain cgo loop calling `jwks_client_verify` (no binding)"),
    ("keyfunc", "keyfunc v3 + golang-jwt v5 (`jwt.Parse`, map claims)"),
    ("keyfunc-registered", "keyfunc v3 + golang-jwt v5 (`RegisteredClaims`)"),
    ("py", "libjwks, Python `libjwks.Client.verify`"),
    ("py-pyjwkclient", "libjwks, Python `libjwks.PyJWKClient` + `jwt.decode`"),
    ("python", "PyJWKClient + `jwt.decode` (PyJWT)"),
]


def run(cmd, **kw):
    """Runs a command, failing the benchmark loudly if it fails; its standard output."""
    result = subprocess.run(cmd, cwd=kw.pop("cwd", ROOT), capture_output=True, text=True, **kw)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def log(message):
    print(f"-- {message}", file=sys.stderr, flush=True)


def build():
    log("building (release library, Rust bench, C and C++ programs, Go program, Python venv)")
    run(["cargo", "build", "--release", "--locked", "-p", "jwks-capi"])
    run(["cargo", "build", "--release", "--locked", "--example", "bench_verify"])
    OUT.mkdir(parents=True, exist_ok=True)
    lib = ROOT / "target" / "release" / "libjwks.a"
    libs = ["-lpthread", "-ldl", "-lm"]
    run(["cc", "-O2", "-I", ROOT / "include", ROOT / "bench" / "c" / "verify.c", lib, *libs,
         "-o", OUT / "verify_c"])
    run(["c++", "-std=c++17", "-O2", "-I", ROOT / "include", "-I", ROOT / "bindings" / "cpp" / "include",
         ROOT / "bench" / "cpp" / "verify.cpp", lib, *libs, "-o", OUT / "verify_cpp"])
    run(["go", "build", "-tags", "jwks_release", "-o", OUT / "cross", "./cross"], cwd=ROOT / "bindings" / "go" / "bench")
    venv = OUT / "venv"
    if not (venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", venv])
    run([venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
         ROOT / "bench" / "python" / "requirements.txt"])
    # libjwks's Python package: its release wheel, built as scripts/python-test.sh builds it.
    run([venv / "bin" / "maturin", "build", "--quiet", "--release", "--locked", "-m",
         ROOT / "bindings" / "python" / "Cargo.toml", "-o", OUT / "wheels"])
    wheels = sorted((OUT / "wheels").glob("libjwks-*.whl"), key=lambda p: p.stat().st_mtime)
    run([venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check",
         "--force-reinstall", "--no-deps", wheels[-1]])


class Quiet(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(FIXTURES), **kwargs)

    def log_message(self, *args):
        pass


def serve():
    """The fixture JWKS on 127.0.0.1 (a port the kernel picks): its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


def parse(text):
    """Lines "path alg value [allocs]" into {(path, alg): (value, allocs or None)}."""
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ALGS:
            allocs = int(parts[3]) if len(parts) > 3 else None
            found[(parts[0], parts[1])] = (float(parts[2]), allocs)
    return found


def rounds(url, tokens, count, millis):
    pairs = [f"{alg}={tokens[alg]}" for alg in ALGS]
    tokens_file = str(FIXTURES / "tokens.json")
    paths = {
        "rust": [ROOT / "target" / "release" / "examples" / "bench_verify", "time", url, FIXTURES, str(millis)],
        "c": [OUT / "verify_c", "time", url, str(millis), *pairs],
        "cpp": [OUT / "verify_cpp", url, str(millis), *pairs],
        "go": [OUT / "cross", "time", url, tokens_file, str(millis)],
        "python": [OUT / "venv" / "bin" / "python", ROOT / "bench" / "python" / "bench.py", url, tokens_file,
                   str(millis)],
        "py": [OUT / "venv" / "bin" / "python", ROOT / "bench" / "python" / "libjwks_bench.py", "time", url,
               tokens_file, str(millis)],
    }
    names = list(paths)
    samples = {}
    for r in range(count):
        # Each round starts with a different path, so that slow phases of the machine fall
        # on every path alike.
        order = names[r % len(names):] + names[:r % len(names)]
        log(f"round {r + 1}/{count}: {', '.join(order)}")
        for name in order:
            for key, (value, allocs) in parse(run(paths[name])).items():
                samples.setdefault(key, []).append((value, allocs))
    return {k: (statistics.median(v for v, _ in s), s[0][1]) for k, s in samples.items()}


def instructions(cmd, n):
    result = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={OUT / 'callgrind.out'}",
                             "--toggle-collect=*counted_loop*", *map(str, cmd(n))],
                            cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"callgrind failed: {result.stderr}")
    for line in result.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1])
    sys.exit(f"no instruction count in: {result.stderr}")


def per_verification(cmd):
    """(I(150) - I(50)) / 100: instructions per verification, start-up cancelled out."""
    return (instructions(cmd, 150) - instructions(cmd, 50)) / 100


def gate(url, tokens):
    log("counting instructions with callgrind (floor and C ABI, every algorithm)")
    bench = ROOT / "target" / "release" / "examples" / "bench_verify"
    counts = {}
    for alg in ALGS:
        floor = per_verification(lambda n: [bench, "count", "floor", alg, n, url, FIXTURES])
        c = per_verification(lambda n: [OUT / "verify_c", "count", url, n, f"{alg}={tokens[alg]}"])
        counts[alg] = (floor, c)
    return counts


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {cpu}, {os.cpu_count()} logical CPUs, Linux {platform.release()}"


def report(args, url, tokens, timings, counts, extra):
    lines = [f"Machine: {machine()}.", "",
             f"Rounds: {args.rounds} interleaved, about {args.millis} ms per path and algorithm in each; "
             "medians. One thread, warm cache.", "",
             "| path | " + " | ".join(ALGS) + " |", "|---|" + "---|" * len(ALGS)]
    for key, label in ROWS:
        cells = []
        for alg in ALGS:
            if (key, alg) not in timings:
                cells.append("—")
                continue
            value, allocs = timings[(key, alg)]
            floor = timings[("floor", alg)][0]
            cell = f"{value / 1000:.1f} µs ({value / floor:.2f}×)"
            if allocs is not None:
                cell += f", {allocs} allocs"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Go binding against keyfunc + golang-jwt, same run (their time ÷ ours):", "",
              "| against | " + " | ".join(ALGS) + " |", "|---|" + "---|" * len(ALGS)]
    for peer in ["keyfunc", "keyfunc-registered"]:
        cells = [f"{timings[(peer, a)][0] / timings[('go', a)][0]:.2f}×" for a in ALGS]
        lines.append(f"| {peer} | " + " | ".join(cells) + " |")
    lines += ["", "Peer ceiling: the most any binding of the floor could reach (peer ÷ floor):", "",
              "| peer | " + " | ".join(ALGS) + " |", "|---|" + "---|" * len(ALGS)]
    for peer in ["keyfunc", "keyfunc-registered"]:
        cells = [f"{timings[(peer, a)][0] / timings[('floor', a)][0]:.2f}×" for a in ALGS]
        lines.append(f"| {peer} | " + " | ".join(cells) + " |")
    if counts:
        lines += ["", f"Instructions per verification (callgrind, (I(150) − I(50)) / 100, the pinned tokens "
                  f"of bench/fixtures); gate: the C ABI adds at most {GATE}:", "",
                  "| | " + " | ".join(ALGS) + " |", "|---|" + "---|" * len(ALGS),
                  "| floor | " + " | ".join(f"{counts[a][0]:,.0f}" for a in ALGS) + " |",
                  "| C ABI | " + " | ".join(f"{counts[a][1]:,.0f}" for a in ALGS) + " |",
                  "| added | " + " | ".join(f"{counts[a][1] - counts[a][0]:,.0f}" for a in ALGS) + " |",
                  "| gate | " + " | ".join("pass" if counts[a][1] - counts[a][0] <= GATE else "**fail**"
                                          for a in ALGS) + " |"]
    lines += ["", "Python, same run: libjwks's package against the C ABI and against PyJWT (gate: "
              "`libjwks.Client.verify` within 1.10× of the C ABI):", "",
              "| | " + " | ".join(ALGS) + " |", "|---|" + "---|" * len(ALGS),
              "| `libjwks.Client.verify` ÷ C ABI | " + " | ".join(
                  f"{timings[('py', a)][0] / timings[('c', a)][0]:.2f}×" for a in ALGS) + " |",
              "| PyJWT (`PyJWKClient` + `jwt.decode`) ÷ `libjwks.Client.verify` | " + " | ".join(
                  f"{timings[('python', a)][0] / timings[('py', a)][0]:.1f}×" for a in ALGS) + " |",
              "| PyJWT ÷ `libjwks.PyJWKClient` + `jwt.decode` | " + " | ".join(
                  f"{timings[('python', a)][0] / timings[('py-pyjwkclient', a)][0]:.2f}×" for a in ALGS) + " |"]
    lines += ["", *extra]
    return "\n".join(lines) + "\n"


def extras(url, tokens, quick):
    out = []
    bench = ROOT / "target" / "release" / "examples" / "bench_verify"
    log("lookup and scaling")
    lookup = run([bench, "lookup", url, FIXTURES, "300"])
    for line in lookup.splitlines():
        parts = line.split()
        if parts[0] == "lookup":
            out.append(f"- Cache-hit key lookup, Rust API `get_signing_key`: {float(parts[2]):.1f} ns.")
        elif parts[0] == "threads":
            one, two = float(parts[2]), float(parts[3])
            out.append(f"- {parts[1]} verifications per second, 1 thread: {one:,.0f}; 2 threads: {two:,.0f} "
                       f"({two / one:.2f}×).")
    log("memory")
    out.append("- " + run([bench, "memory"]).strip())
    if not quick:
        rss = run([OUT / "verify_c", "rss", url, f"RS256={tokens['RS256']}"]).split()
        grown = int(rss[3]) - int(rss[2])
        out.append(f"- C ABI RSS: {int(rss[2]):,} KiB after 10,000 verifications, {int(rss[3]):,} KiB after "
                   f"1,000,000 ({grown:+,} KiB).")
    py = [OUT / "venv" / "bin" / "python", ROOT / "bench" / "python" / "libjwks_bench.py"]
    threads = run([*py, "threads", url, str(FIXTURES / "tokens.json"), "1500"]).split()
    one, two = float(threads[2]), float(threads[3])
    out.append(f"- Python `libjwks.Client.verify` (RS256) per second, 1 thread: {one:,.0f}; 2 threads: "
               f"{two:,.0f} ({two / one:.2f}×; the GIL is released while it verifies).")
    if not quick:
        rss = run([*py, "rss", url, str(FIXTURES / "tokens.json"), "1000000"]).split()
        out.append(f"- Python RSS: {int(rss[2]):,} KiB after 10,000 `libjwks.Client.verify` calls, "
                   f"{int(rss[3]):,} KiB after 1,000,000 ({int(rss[3]) - int(rss[2]):+,} KiB).")
    heap = run([OUT / "cross", "heap", url, str(FIXTURES / "tokens.json")]).split()
    out.append(f"- Go heap after a GC: {int(heap[1]):,} bytes after 10,000 verifications, {int(heap[2]):,} "
               "after 210,000.")
    log("cold path")
    for line in run([bench, "cold", "20"]).splitlines():
        _, mode, us, requests = line.split()
        count = float(requests)
        noun = "request" if count == 1 else "requests"
        out.append(f"- Cold path, {mode} ({count:g} {noun} per client): {float(us) / 1000:.2f} ms from client "
                   "creation to the first verified token (median of 20).")
    log("cgo call cost")
    out += ["", "What a cgo call costs around C work of a verification's length (ns per call):", "",
            "| C work | in C | through cgo | cgo adds |", "|---|---|---|---|"]
    for line in run([OUT / "cross", "cgo"]).splitlines():
        _, us, in_c, through = line.split()
        out.append(f"| {us} µs | {float(in_c):,.0f} | {float(through):,.0f} | {float(through) - float(in_c):+,.0f} |")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--millis", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.millis = 2, 100
    build()
    url = serve()
    tokens = json.loads((FIXTURES / "tokens.json").read_text())
    timings = rounds(url, tokens, args.rounds, args.millis)
    counts = gate(url, tokens)
    extra = extras(url, tokens, args.quick)
    text = report(args, url, tokens, timings, counts, extra)
    (OUT / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
