"""error_kinds.py and corpus.wer.error_kinds: substitutions, deletions and insertions."""
import json

from corpus.wer import edit_distance, error_kinds
import error_kinds as K


def test_kinds_add_up_to_the_edit_distance():
    cases = [("call jim now", "call jam"), ("play some music", "play music please now"),
             ("", "a b"), ("a b c", ""), ("set a timer", "set a timer")]
    for ref, hyp in cases:
        r, h = ref.split(), hyp.split()
        assert sum(error_kinds(r, h)) == edit_distance(r, h), (ref, hyp)
    assert error_kinds("call jim now".split(), "call jam".split()) == (1, 1, 0)
    assert error_kinds("a b".split(), "a x b y".split()) == (0, 0, 2)
    assert error_kinds([], "a b".split()) == (0, 0, 2)


def test_counts_over_a_hyps_file(tmp_path, capsys):
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in [
        {"audio": "1.wav", "ref": "call jim now", "hyp": "call jam"},
        {"audio": "2.wav", "ref": "Play Music", "hyp": "play music again"}]))
    (r,) = K.main([str(p)])
    assert (r["words"], r["substitutions"], r["deletions"], r["insertions"]) == (5, 1, 1, 1)
    assert "5 words, 1 substitutions, 1 deletions, 1 insertions" in capsys.readouterr().out
