import os
import sys

RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "recipe")
sys.path.insert(0, os.path.abspath(RECIPE))
