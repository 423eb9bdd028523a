"""The nbgitpuller links the build writes into the instructor guide (book/_ext/nbgitpuller_links.py)."""

from __future__ import annotations

import sys
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import yaml

from conftest import ROOT, chapter_notebooks

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from nbgitpuller_links import nbgitpuller_links  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
BRANCH = CONFIG["sphinx"]["config"]["lnbook_student_branch"]  # students pull the edition without solutions
CHAPTERS = [p.relative_to(ROOT).as_posix() for p in chapter_notebooks()]


def test_one_url_encoded_link_per_chapter_to_its_reader_notebook_on_the_notebooks_branch():
    repo, hub = "https://github.com/our-class/layer-norm-book", "https://hub.example.edu/"
    links = nbgitpuller_links(repo, hub, BRANCH, CHAPTERS)
    assert list(links) == CHAPTERS and len(set(links.values())) == len(CHAPTERS) > 0
    for path, url in links.items():
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == ("https", "hub.example.edu", "/hub/user-redirect/git-pull")
        query = parse_qs(parts.query, strict_parsing=True)
        assert query == {"repo": [repo], "branch": [BRANCH], "urlpath": [f"lab/tree/layer-norm-book/{path}"]}
        for key, (value,) in query.items():  # each value as it is sent: URL-encoded
            assert f"{key}={quote_plus(value, safe='/')}" in parts.query.split("&")
        assert ":" not in parts.query and " " not in url


def test_links_encode_what_a_query_cannot_carry():
    url = nbgitpuller_links("https://git.example.org/a b/c&d", "https://hub", "nb branch", ["chapters/x.ipynb"])
    query = urlsplit(url["chapters/x.ipynb"]).query
    assert "c%26d" in query and "a+b" in query and "branch=nb+branch" in query  # form encoding: + is a space
    assert parse_qs(query) == {"repo": ["https://git.example.org/a b/c&d"], "branch": ["nb branch"],
                               "urlpath": ["lab/tree/c&d/chapters/x.ipynb"]}


@pytest.mark.parametrize("repo, hub", [("", "https://hub"), ("https://github.com/a/b", ""), ("", "")])
def test_no_links_while_the_repository_or_the_hub_is_unset(repo, hub):
    assert nbgitpuller_links(repo, hub, BRANCH, CHAPTERS) == {}


def test_the_branch_is_required():
    with pytest.raises(ValueError, match="branch"):
        nbgitpuller_links("https://github.com/a/b", "https://hub", "", CHAPTERS)


def test_the_links_pull_the_student_branch():
    """Mutant: the directive on the instructor branch would put the solutions in every student's home."""
    source = (ROOT / "book" / "_ext" / "nbgitpuller_links.py").read_text()
    assert "self.config.lnbook_student_branch" in source and "lnbook_notebooks_branch," not in source
    assert BRANCH != CONFIG["sphinx"]["config"]["lnbook_notebooks_branch"]


def test_the_guide_shows_the_links_and_the_config_keeps_them_off_until_set():
    assert "```{lnb-nbgitpuller-links}" in (ROOT / "book" / "instructor-guide.md").read_text()
    assert "nbgitpuller_links" in CONFIG["sphinx"]["local_extensions"]
    assert "jupyterhub_url" in CONFIG["launch_buttons"]
