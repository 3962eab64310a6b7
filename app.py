"""katoutcomes dashboard: ``streamlit run app.py`` opens on the built-in demo cohort.

Data: ``KATOUTCOMES_DATA`` (a dataset folder or file) or ``KATOUTCOMES_DB`` (a DuckDB store)
when set, else the built-in demo cohort; the Data page can switch to other data.
"""

from __future__ import annotations

import streamlit as st

from views import common

# The favicon is an emoji, which Streamlit draws as an inline SVG: a ":material/...:" page
# icon makes the browser fetch the SVG from fonts.gstatic.com (methods §12.9: nothing is loaded
# from outside hosts). Icons elsewhere use the Material Symbols font bundled with Streamlit.
st.set_page_config(page_title="katoutcomes", page_icon="📈", layout="wide")

navigation = st.navigation(
    [
        st.Page(
            "views/overview.py",
            title="Clinic overview",
            icon=":material/dashboard:",
            default=True,
        ),
        st.Page("views/patient.py", title="Patient", icon=":material/person:"),
        st.Page("views/review.py", title="Needs review", icon=":material/assignment_late:"),
        st.Page("views/research.py", title="Research", icon=":material/science:"),
        st.Page("views/data.py", title="Data", icon=":material/table_view:"),
    ]
)
# The sidebar lives here, not in the pages, so that its filters keep their values when the
# reader moves between pages.
common.sidebar()
navigation.run()
