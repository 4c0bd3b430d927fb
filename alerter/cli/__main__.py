from alerter.cli.main import main

raise SystemExit(main())
