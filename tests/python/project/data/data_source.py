"""A helper module of the test project: runs on executors, shipped by kiln
without --py-files."""
import configparser


def scale(x, ini_path):
    cfg = configparser.ConfigParser()
    cfg.read(ini_path)
    return x * int(cfg["source"]["factor"])


class Scaler:
    def __init__(self, factor):
        self.factor = factor

    def apply(self, x):
        return x * self.factor
