"""``python -m enforcer.lab``: the lab commands on their own (the same as ``enforcer lab``)."""

from .cli import lab_app

if __name__ == "__main__":
    lab_app(prog_name="enforcer lab")
