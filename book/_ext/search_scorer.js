/* The search's scorer (Sphinx's html_search_scorer, set by book/_ext/ntk_site.py).
 * Sphinx scores a page by the words it finds, each alike, so a query such as "spectral bias" ranked
 * a page with "spectral" in one heading and "bias" in another above the chapter whose title holds
 * the phrase. Here a result whose page title holds the whole query (accents folded, case ignored)
 * comes first, then one whose section title holds it; Sphinx's own scores order the rest. */
var Scorer = {
  score: (result) => {
    const fold = (s) => (s || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
      .toLowerCase().replace(/\s+/g, " ").trim();
    const query = fold(new URLSearchParams(window.location.search).get("q"));
    const [, title, anchor, , score] = result;
    if (!query) return score;
    const [page, ...sections] = fold(title).split(" > ");
    if (page.includes(query) && !anchor) return score + 1000;
    if (page.includes(query)) return score + 500;
    if (sections.some((s) => s.includes(query))) return score + 100;
    return score;
  },
  // Sphinx's defaults for the rest
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: { 0: 15, 1: 5, 2: -5 },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};
