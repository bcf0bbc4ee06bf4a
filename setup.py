#!/usr/bin/env python
"""Packaging of the aitk-infer Azure CLI extension."""
import runpy
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

VERSION = "1.0.0b1"
HERE = Path(__file__).parent
BUNDLE = runpy.run_path(str(HERE / "azext_aitkinfer" / "bundle.py"))

CLASSIFIERS = [
    "Development Status :: 4 - Beta",
    "Intended Audience :: Developers",
    "Intended Audience :: System Administrators",
    "Programming Language :: Python",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
    "License :: OSI Approved :: MIT License",
]

# az ships the Azure SDKs we use (resource, storage, appcontainers, file share); a pinned newer
# copy here would be shadowed by az's own anyway. pathspec (gitignore matching for .aitkignore)
# az does not ship: `az extension add` pip-installs it into the extension's folder, pure Python.
DEPENDENCIES = ["pathspec>=0.12,<2"]


class BuildWithBundle(build_py):
    """Copy the top-level infra/ and inference_src/ into the wheel: one copy in git, two uses."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "azext_aitkinfer" / "bundled"
        shutil.rmtree(target, ignore_errors=True)
        for rel in BUNDLE["iter_bundle_files"](HERE):
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / rel, target / rel)


setup(
    name="aitk-infer",
    version=VERSION,
    description="Serve a LoRA adapter fine-tuned with the AI Toolkit from Azure Container Apps.",
    # As az extensions do: the extension's README and its history, in reStructuredText.
    long_description=(HERE / "azext_aitkinfer" / "README.rst").read_text(encoding="utf-8") + "\n\n"
    + (HERE / "HISTORY.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    license="MIT",
    license_files=["LICENSE"],
    python_requires=">=3.11",
    author="aitk-infer",
    url="https://github.com/aitk-infer/aitk-infer",
    classifiers=CLASSIFIERS,
    packages=find_packages(include=["azext_aitkinfer", "azext_aitkinfer.*"]),
    install_requires=DEPENDENCIES,
    package_data={"azext_aitkinfer": ["azext_metadata.json"]},
    cmdclass={"build_py": BuildWithBundle},
)
