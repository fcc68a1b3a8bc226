"""Recipes: a whole analysis as a TOML file, run into a results folder with a report, and replayed."""

from .runner import RunResult, execute, recipe_from_history, replay_outdir, run_recipe
from .schema import Recipe, RecipeError, load_recipe, parse, to_toml

__all__ = [
    "Recipe",
    "RecipeError",
    "RunResult",
    "execute",
    "load_recipe",
    "parse",
    "recipe_from_history",
    "replay_outdir",
    "run_recipe",
    "to_toml",
]
