"""pneumonet: pneumonia detection on pediatric chest X-rays with transfer learning (Keras 3).

Sub-packages, one idea each:

- ``pneumonet.data``: catalog of a Kaggle-layout folder, patient-level splits, safe image loading, synthetic data.
- ``pneumonet.pipelines``: the classic ``ImageDataGenerator`` pipeline and the fast cached-array pipeline.
- ``pneumonet.models``: backbone registry, heads, ``build_model``, freeze/unfreeze utilities.
- ``pneumonet.training``: two-phase training, cached-feature phase 1, resumable checkpoints.
- ``pneumonet.evaluation``: clinical metrics, thresholds, bootstrap intervals, paired tests, calibration, run folders.
- ``pneumonet.explain``: Grad-CAM (own and tf-keras-vis), overlays, sanity checks.
- ``pneumonet.plots``: figures; every function takes ``ax=None`` and returns what it drew.
"""

__version__ = "0.1.0"
