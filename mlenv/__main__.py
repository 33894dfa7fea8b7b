from mlenv.uptodate import main

raise SystemExit(main())
