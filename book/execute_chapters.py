"""Execute the chapters into the build's execution cache, two at a time, before the website build.

``make book`` runs this first; the website build (myst-nb, ``execute_notebooks: cache``) then finds
every chapter in the jupyter-cache and only renders. The result is what myst-nb itself would store:
the same cache, the same execution (``jupyter_cache``'s ``single_nb_execution`` with the timeout and
``allow_errors`` of ``_config.yml``, the chapter's folder as working directory), the run time in the
record, and each kernel's peak memory in the file ``course_facts.py`` reads (measured by the same
probe). What differs is only that independent chapters run side by side on a machine with cores to
spare; the chapters that time code (notebook metadata ``"lnbook": {"times_code": true}``, chapters 5 and
9) run by themselves afterwards, so their measurements see no neighbour.

A chapter that fails is left out of the cache: the website build executes it again and reports the
error as it always does. Run from the repository root::

    python book/execute_chapters.py [--jobs N] [CHAPTER.ipynb ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: Run times of the last executions, beside the cache (a scheduling hint only).
HINTS = ".chapter-seconds.json"
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import course_facts  # noqa: E402  (the probe, the memory file and the build setting, as the build has them)


def _config() -> dict:
    execute = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]
    return {"cache": ROOT / execute["cache"], "timeout": execute.get("timeout", 30),
            "allow_errors": bool(execute.get("allow_errors", False))}


def _toc_notebooks() -> list[Path]:
    """Every ``file:`` of the table of contents that is a notebook, in the book's order."""
    def files(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            for value in node.values():
                yield from files(value)
        elif isinstance(node, list):
            for item in node:
                yield from files(item)

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [ROOT / f"{f}.ipynb" for f in files(toc) if (ROOT / f"{f}.ipynb").is_file()]


def _execute(path: str, timeout: int, allow_errors: bool) -> tuple[str, dict, float, str | None, int | None]:
    """Run one chapter in a fresh kernel (in a worker process): (path, notebook, seconds, error, peak RSS)."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="lnb-execute-") as tmp:
        probe = Path(tmp, "peak.json")
        os.environ["PYTHONSTARTUP"], os.environ[course_facts.PROBE_ENV_VAR] = str(course_facts.PROBE), str(probe)
        result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout,
                                     allow_errors=allow_errors, meta_override=True)
        peak = json.loads(probe.read_text())["peak_rss_bytes"] if probe.exists() else None
    return path, nb, result.time, (result.exc_string if result.err else None), peak


def _store(cache, memory_file: Path, path: str, nb, seconds: float, peak: int | None) -> None:
    """What myst-nb stores after an execution, and the peak as course_facts.py keeps it."""
    from jupyter_cache.base import CacheBundleIn

    stage = cache.add_nb_to_project(path)
    record = cache.cache_notebook_bundle(CacheBundleIn(nb, stage.uri, data={"execution_seconds": seconds}),
                                         check_validity=False, overwrite=True)
    if peak is not None:
        saved = json.loads(memory_file.read_text()).get("chapters", {}) if memory_file.exists() else {}
        source = Path(path).resolve().with_suffix("")
        doc = str(source.relative_to(ROOT)) if ROOT in source.parents else source.name  # the build's docname
        saved[doc] = {"peak_rss_bytes": peak, "cache_pk": record.pk, "setting": course_facts.build_setting()}
        memory_file.write_text(json.dumps({"chapters": saved}, indent=1, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path,
                        help="notebooks to execute (default: every notebook in _toc.yml)")
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at once (default 2)")
    parser.add_argument("--cache", type=Path, help="the jupyter-cache folder (default: _config.yml's)")
    args = parser.parse_args(argv)
    if not args.chapters:
        args.chapters = _toc_notebooks()
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    missing = [str(p) for p in args.chapters if not p.is_file()]
    if missing:
        parser.error(f"no such chapter: {', '.join(missing)}")

    from jupyter_cache import get_cache

    config = _config()
    if args.cache:
        config["cache"] = args.cache
    cache = get_cache(config["cache"])
    memory_file = config["cache"] / course_facts.MEMORY_FILE
    todo, alone = [], []
    for path in args.chapters:
        nb = nbformat.read(path, as_version=4)
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo.append(str(path.resolve()))
            if nb.metadata.get("lnbook", {}).get("times_code"):
                alone.append(todo[-1])
    together = [p for p in todo if p not in alone]
    if not todo:
        print("execute_chapters: every chapter is in the cache")
        return 0
    t0, failed = time.time(), []

    def finish(future):
        path, nb, seconds, error, peak = future.result()
        name = Path(path).name
        if error:
            failed.append(name)
            print(f"execute_chapters: {name} failed after {seconds:.0f} s; the website build runs it again "
                  f"and reports the error", flush=True)
            return
        _store(cache, memory_file, path, nb, seconds, peak)
        hints[name] = round(seconds, 1)
        hints_file.write_text(json.dumps(hints, indent=1, sort_keys=True))
        print(f"execute_chapters: {name} in {seconds:.1f} s", flush=True)

    # the longest chapters first, so that the queues end together: by the run times of the last execution
    # (kept beside the cache, which a change to the helpers clears), else by size
    hints_file = config["cache"].parent / HINTS
    hints = json.loads(hints_file.read_text()) if hints_file.exists() else {}
    together.sort(key=lambda p: (-hints.get(Path(p).name, 0), -Path(p).stat().st_size))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for future in as_completed([pool.submit(_execute, p, config["timeout"], config["allow_errors"])
                                    for p in together]):
            finish(future)
    with ProcessPoolExecutor(max_workers=1) as pool:
        for p in alone:
            finish(pool.submit(_execute, p, config["timeout"], config["allow_errors"]))
    print(f"execute_chapters: {len(todo) - len(failed)} of {len(todo)} chapters executed in "
          f"{time.time() - t0:.0f} s ({args.jobs} at a time; {', '.join(Path(p).name for p in alone) or 'none'} alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
