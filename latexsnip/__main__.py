from latexsnip.cli import main

raise SystemExit(main())
