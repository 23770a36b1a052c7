"""Packaging that pyproject.toml cannot say: the wheel carries the repository's assets/ and docs/ as saif_ui/assets/
and saif_ui/docs/ (they stay at the root of the checkout, where the Space and the docs' links expect them)."""

from setuptools import find_namespace_packages, find_packages, setup

DATA = {"saif_ui.assets": "assets", "saif_ui.docs": "docs"}
"""Package name in the wheel -> folder in the repository."""

packages = find_packages(include=["saif_ui", "saif_ui.*"])
package_dir = {}
for package, folder in DATA.items():
    # package_data's "*" takes one folder's files, so each subfolder is a (data-only) package of its own.
    for sub in ["", *find_namespace_packages(where=folder)]:
        name = f"{package}.{sub}" if sub else package
        packages.append(name)
        package_dir[name] = f"{folder}/{sub.replace('.', '/')}" if sub else folder

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={name: ["*"] for name in package_dir},
)
