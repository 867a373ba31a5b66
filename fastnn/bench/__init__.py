"""fastnn benchmarks: python -m fastnn.bench (see __main__.py); one cases_<family>.py per layer family."""
