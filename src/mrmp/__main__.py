"""``python -m mrmp`` (also what ``torchrun -m mrmp`` runs)."""

from mrmp.cli import main

raise SystemExit(main())
