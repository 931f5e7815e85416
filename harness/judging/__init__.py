"""Judging: gates evaluated on scored runs, the verdict they add up to, run directories
judged from their records, and what a CI job shows (JUnit XML, Markdown).

It sits above scoring (it reads summaries and windows) and below the engines and the CLI.
"""
