"""katoutcomes dashboard: ``streamlit run app.py`` opens on the built-in demo cohort."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="katoutcomes", layout="wide")

navigation = st.navigation(
    [st.Page("views/data.py", title="Data", icon=":material/table_view:", default=True)]
)
navigation.run()
