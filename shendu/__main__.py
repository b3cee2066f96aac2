from shendu.cli import main

raise SystemExit(main())
