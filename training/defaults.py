"""Training defaults in one place, free of TensorFlow so the CLI can show them in ``--help`` without loading it.

:class:`~edge_fer.training.train.TrainConfig`, the sweep, the experiments, pseudo-labelling and the CLI all
read these: a default changes here and nowhere else. The values are the ones the shipped model's recipe
starts from (README, "How it was made"), except where that recipe sets its own on the command line.
"""

ARCH = "edgefer-s"
#: Epochs of a training run.
EPOCHS = 60
#: Faces per batch (the global batch across GPUs).
BATCH_SIZE = 64
#: Initial learning rate when neither the run nor the architecture's zoo entry names one.
LR = 1e-3
#: Stratified share of the faces held out for validation when the data has no validation split.
VAL_FRACTION = 0.1
SEED = 0
OPTIMIZER = "adam"
#: For sgd and rmsprop.
MOMENTUM = 0.9
#: Decoupled weight decay (0: none).
WEIGHT_DECAY = 0.0
SCHEDULE = "cosine"
WARMUP_EPOCHS = 0
#: 0.1 caps a 7-class model's confidence near 0.91 (see pseudo-labelling's threshold).
LABEL_SMOOTHING = 0.1
#: Metric that picks the best checkpoint and drives early stopping.
MONITOR = "val_loss"
#: Epochs without improvement of MONITOR before stopping.
PATIENCE = 10

#: Pseudo-labelling: the top probability an unlabelled face must exceed to be used.
PSEUDO_THRESHOLD = 0.9
#: Pseudo-labelling: epochs trained on labelled + pseudo-labelled faces after the first phase.
PSEUDO_EXTRA_EPOCHS = 10
#: The pseudo-labelling experiment's first phase (the report's protocol, scaled for a CPU).
PSEUDO_EXPERIMENT_EPOCHS = 40
#: Epochs of each run of a sweep or of the CNN-vs-DNN experiment that sets none of its own.
SWEEP_EPOCHS = 30
