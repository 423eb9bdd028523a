"""nbgitpuller links for a class's JupyterHub, one per chapter, written by the build.

``{lnb-nbgitpuller-links}`` (a directive, no content) renders a list: each chapter
of the table of contents with the link that makes the hub clone (or update) the
repository's student notebooks branch into the student's home and open the chapter's
reader notebook (student edition: no solutions) in JupyterLab::

    https://HUB/hub/user-redirect/git-pull?repo=REPO&urlpath=lab/tree/REPO_DIR/chapters/CHAPTER.ipynb&branch=BRANCH

(query values URL-encoded). The repository is ``repository.url``, the branch
``lnbook_student_branch`` and the hub ``launch_buttons.jupyterhub_url`` in
``_config.yml``; the links are the JupyterHub launch buttons' own
(``reader_notebooks.launch_urls``). While the repository or the hub is unset there
are no links, as there are no launch buttons: the directive then says what to set.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

from course_facts import _doc_link, _toc_order
from reader_notebooks import launch_urls, repository_url

def nbgitpuller_links(repo_url: str, hub_url: str, branch: str, notebooks: list[str],
                      interface: str = "jupyterlab") -> dict[str, str]:
    """``{notebook path: nbgitpuller link}`` for each notebook path (relative to the repository root).

    Empty when ``repo_url`` or ``hub_url`` is empty: no link that would lead nowhere.
    """
    if not isinstance(branch, str) or not branch.strip():
        raise ValueError(f"nbgitpuller_links: the notebooks branch must be a non-empty string, got {branch!r}")
    if not repo_url or not hub_url:
        return {}
    launch = {"jupyterhub_url": hub_url, "notebook_interface": interface}
    return {path: launch_urls(repo_url, branch, path, launch)["JupyterHub"] for path in notebooks}


class links_placeholder(nodes.General, nodes.Element):
    """Filled when the page is written, with the configuration of that build."""


class NbgitpullerLinks(SphinxDirective):
    def run(self):
        node = links_placeholder()
        self.set_source_info(node)
        return [node]


class FillLinks(SphinxPostTransform):
    default_priority = 8  # before the references are resolved, so the chapter links resolve

    def run(self, **kwargs) -> None:
        for node in list(self.document.findall(links_placeholder)):
            node.replace_self(self._links())

    def _links(self):
        env, options = self.env, self.config.html_theme_options
        launch = options.get("launch_buttons") or {}
        chapters = [d for d in _toc_order(env) if str(env.doc2path(d)).endswith(".ipynb")]
        links = nbgitpuller_links(repository_url(options), (launch.get("jupyterhub_url") or "").strip(),
                                  self.config.lnbook_student_branch, [f"{d}.ipynb" for d in chapters],
                                  launch.get("notebook_interface", "jupyterlab"))
        if not links:
            para = nodes.paragraph(classes=["lnb-nbgitpuller-unset"])
            para += nodes.Text("No links in this build: set ")
            para += nodes.literal(text="repository.url")
            para += nodes.Text(" and ")
            para += nodes.literal(text="launch_buttons.jupyterhub_url")
            para += nodes.Text(" in ")
            para += nodes.literal(text="_config.yml")
            para += nodes.Text(" to your repository and your hub, and rebuild.")
            return para
        items = nodes.bullet_list(classes=["lnb-nbgitpuller-links"])
        for doc in chapters:
            para = nodes.paragraph()
            para += _doc_link(env.docname, doc, env)
            para += nodes.Text(": ")
            url = links[f"{doc}.ipynb"]
            para += nodes.reference(url, "nbgitpuller link", refuri=url)
            items += nodes.list_item("", para)
        return items


def setup(app):
    app.add_node(links_placeholder)
    app.add_directive("lnb-nbgitpuller-links", NbgitpullerLinks)
    app.add_post_transform(FillLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
