"""The web site the testbed's HTTP servers serve, planned from the seed.

The lab profile serves the original 20 small documents. The wide profile
plans hundreds of pages in several sections, each page linking others and
pulling its own stylesheets, scripts and images, with sizes drawn from a
long-tailed (log-normal) distribution the way real sites' objects are. The
plan is made before anything starts, so clients know which URLs exist
(and browse them with their assets) without asking the server.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from trafficlm.training.testbed.webapp import SEARCH_PAGES, SEARCH_PARAMS

PAGE = "<html><head><title>{title}</title>{head}</head><body><h1>{title}</h1>{body}</body></html>"
SECTIONS = ("docs", "blog", "products", "support", "news", "team")
ASSET_KINDS = {  # extension -> (median bytes, log-normal sigma)
    "css": (12_000, 0.8), "js": (40_000, 1.0), "png": (25_000, 1.2), "jpg": (80_000, 1.0),
}
WORDS = ("router", "switch", "firewall", "sensor", "tap", "packet", "latency", "uplink",
         "backup", "invoice", "release", "roadmap", "support", "policy", "customer")


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    links: tuple[str, ...]
    assets: tuple[str, ...]
    paragraphs: int


@dataclass(frozen=True)
class SitePlan:
    pages: tuple[Page, ...]
    assets: dict[str, int]  # path -> size in bytes
    search: tuple[str, str] = ("/search", "q")  # the search page and its parameter

    @property
    def page_paths(self) -> tuple[str, ...]:
        return tuple(p.path for p in self.pages)

    def page(self, path: str) -> Page:
        return next(p for p in self.pages if p.path == path)


def plan_site(profile: str, seed: int) -> SitePlan:
    if profile == "lab":
        docs = tuple(Page(f"/docs/page{i}.html", f"Document {i}", (), (), (i + 1) * 20)
                     for i in range(20))
        return SitePlan(docs, {})
    rng = random.Random(f"site/{seed}")
    search = (rng.choice(SEARCH_PAGES), rng.choice(SEARCH_PARAMS))
    assets = {}
    for kind, (median, sigma) in ASSET_KINDS.items():
        for i in range(rng.randint(10, 40)):
            assets[f"/static/{kind}/{rng.choice(WORDS)}-{i}.{kind}"] = int(
                min(2_000_000, rng.lognormvariate(0, sigma) * median))
    paths = [f"/{rng.choice(SECTIONS)}/{rng.choice(WORDS)}-{i}.html"
             for i in range(rng.randint(120, 400))]
    pages = tuple(Page(path, f"{path.split('/')[2].split('-')[0].title()} {i}",
                       tuple(rng.sample(paths, min(len(paths), rng.randint(3, 12)))),
                       tuple(rng.sample(sorted(assets), rng.randint(1, 8))),
                       rng.randint(2, 60)) for i, path in enumerate(paths))
    return SitePlan(pages, assets, search)


def write_site(plan: SitePlan, www: Path) -> None:
    """Write every page, asset, the home page and the 2 MiB download under ``www``."""
    links = "".join(f'<a href="{p.path}">{p.title}</a>' for p in plan.pages[:40])
    page, param = plan.search
    _write(www / "index.html", PAGE.format(
        title="TrafficLM testbed shop", head="",
        body=links + f'<a href="{page}?{param}=router">search</a><a href="/login">sign in</a>'))
    for page in plan.pages:
        head = "".join(f'<link rel="stylesheet" href="{a}">' for a in page.assets
                       if a.endswith(".css"))
        head += "".join(f'<script src="{a}"></script>' for a in page.assets if a.endswith(".js"))
        body = "".join(f'<img src="{a}">' for a in page.assets if a.endswith(("png", "jpg")))
        body += "".join(f'<a href="{link}">more</a>' for link in page.links)
        _write(www / page.path.lstrip("/"), PAGE.format(
            title=page.title, head=head, body=body + "<p>lorem ipsum</p>" * page.paragraphs))
    rng = random.Random(len(plan.assets))
    for path, size in plan.assets.items():
        target = www / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rng.randbytes(size))
    (www / "download.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
