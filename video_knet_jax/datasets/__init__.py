"""The data-set builders, imported as `video_knet_jax.datasets.*`.

Their code lives in the repository's top-level `datasets/` folder; this
package points there in a clone, and `pip install` ships that folder as this
package (a top-level `datasets` would shadow the Hugging Face library of that
name). Import them only under this name: loaded twice under two names, TFDS
refuses the second registration of a builder.
"""
import os

__path__ = [os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "datasets")]
