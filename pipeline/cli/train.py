"""`thresher train MODEL`: train a model that thresher ships, on your own labelled data."""

from __future__ import annotations

import argparse

# model name -> module with configure(parser) and main(args) -> int
MODELS: dict[str, tuple[str, str]] = {
    "ai-detector": ("thresher.pipeline.lab.ai_train", "train, evaluate and write the AI-generated-text detector"),
}


def configure(p: argparse.ArgumentParser) -> None:
    import importlib

    sub = p.add_subparsers(dest="model", required=True)
    for name, (module, help_text) in MODELS.items():
        mp = sub.add_parser(name, help=help_text, description=help_text)
        mp.set_defaults(_train_module=module)
        importlib.import_module(module).configure(mp)


def main(args: argparse.Namespace) -> int:
    import importlib

    return int(importlib.import_module(args._train_module).main(args) or 0)
