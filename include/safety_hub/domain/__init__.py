"""The domain: pure rules of the regulatory codes and the agencies' writing, no I/O.

``uscc`` (GB 32100), ``places`` (Tianjin districts), ``dates``, ``text`` (hygiene, half-width,
enterprise names), ``industry`` (GB/T 4754 sectors), ``codes`` (plates, permits, UN numbers,
penalty documents, accident grades, railway mileage: the derived-column functions of the feed
YAMLs), ``masking`` (personal values) and ``errors``. Nothing here imports the rest of the package.
"""
