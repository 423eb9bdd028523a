# Run by IPython at kernel start (PYTHONSTARTUP) while the build executes a chapter; see course_facts.py.
# After every cell it writes the kernel's peak resident set size so far, getrusage(RUSAGE_SELF).ru_maxrss,
# to the file named by LNB_KERNEL_MEMORY_FILE: after the last cell, the chapter's peak. It prints
# nothing and leaves no name in the notebook's namespace.
def _lnb_register(path):
    import json
    import resource

    def write_peak(result=None):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        with open(path, "w") as f:
            json.dump({"peak_rss_bytes": peak}, f)

    get_ipython().events.register("post_run_cell", write_peak)  # noqa: F821 (IPython's global)
    write_peak()


if __import__("os").environ.get("LNB_KERNEL_MEMORY_FILE"):
    _lnb_register(__import__("os").environ["LNB_KERNEL_MEMORY_FILE"])
del _lnb_register
