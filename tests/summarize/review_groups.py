"""Groups of reviews made of the built-in corpus's sentences, for the summarisation tests."""

from sentvae.summarize.groups import Group


def review_groups(n_groups=3, reviews=4, sentences_per_review=3, seed=11):
    from sentvae.corpus import splits

    texts = [s.text for s in splits(train=n_groups * reviews * sentences_per_review, valid=1, test=1,
                                    seed=seed)["train"]]
    groups, i = [], 0
    for g in range(n_groups):
        group = Group(id=f"g{g}", texts=[])
        for _ in range(reviews):
            group.texts.append(" ".join(texts[i: i + sentences_per_review]))
            i += sentences_per_review
        group.references = [group.texts[0]]
        groups.append(group)
    return groups
