"""`python -m wikimem`."""

from wikimem.entry import main

main()
