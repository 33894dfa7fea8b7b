from mlenv.cli import main

raise SystemExit(main())
