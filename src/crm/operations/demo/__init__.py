"""Demo data: two companies with bilingual customers, deals, activities and orders.

`crm demo` loads them (`--contacts N` scales every table in proportion, for benchmarks).
"""
