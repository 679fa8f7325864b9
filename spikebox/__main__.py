from spikebox.cli import main

raise SystemExit(main())
