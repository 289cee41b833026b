from safety_hub.cli import main

raise SystemExit(main())
