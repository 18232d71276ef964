"""emotion-hub's training package; `train.py` is its command line.

    recipe.py            recipe parsing and validation (pydantic, one model per block), recipe hash
    registry.py          model_type -> its family (modeling/families.py): task, config and model classes
    task.py              Task, the base class of the task families: the hooks the loop calls and their defaults
    text.py, image.py, audio.py, conversation.py
                         one module per task family: processor, datasets, collators, augmentation, model
    samplers.py          class-balanced and length-grouped batch samplers
    loop.py              the training loop (optimiser, scheduler, checkpoints, early stopping, on_evaluate hook)
    checkpoints.py       atomic checkpoints that resume without unpickling code
    output.py            output-folder rules: lock, refusal of another run's folder, atomic final swap
    optim.py, metrics.py optimisers / schedulers / LoRA; metrics and plots
    cross_validation.py  K-fold (grouped) cross-validation
    hub.py               push to the Hub
    cli.py               main(argv, on_evaluate) and the one-line-error command line (train.py, emotion-hub-train)
"""
