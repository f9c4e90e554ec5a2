"""Training RDFR under tf.distribute: strategy, trainer, EMA, run directories."""

from faceres_tf.training.checkpoint import load_generator
from faceres_tf.training.strategy import make_strategy, strategy_name
from faceres_tf.training.train_lib import train
from faceres_tf.training.trainer import Trainer, TrainResult

__all__ = ["Trainer", "TrainResult", "load_generator", "make_strategy", "strategy_name", "train"]
