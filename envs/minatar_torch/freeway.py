"""Freeway: lead the chicken from the bottom of the screen across eight lanes of traffic.

Rules (MinAtar): the chicken lives in column 4 and starts on row 9. It can go up or down one row,
but only when its move cooldown is 0; a move sets the cooldown to 3, and the cooldown then drops
by one at the end of every step. Reaching row 0 scores +1, sends the chicken back to row 9 and
gives every car a new speed and direction (the cars keep their columns). Lane k (rows 1..8) holds
one car; a car of speed v (1..5) moves one column every v + 1 steps in its direction and wraps
around the edges: its timer counts down to 0, and on the step it is 0 the car moves and the timer
restarts at v. A car on the chicken's cell, before or after its move, knocks the chicken back to
row 9. The game ends after 2,501 steps (a time counter starts at 2,500 and the game is over once
it falls below 0). There is no difficulty ramp, so `ramping` changes nothing. Observation: the
chicken, the cars, and behind each car a trail in one of five channels naming its speed.
Actions: no-op, up, down.

Quirk kept from the original: a direction draw of exactly 0.5 yields speed 0. Such a car moves
left every step, its timer stays 0, and its trail (one cell to its right) takes the channel of the
nearest earlier lane's car with a non-zero speed (the original fails outright if that is lane 1's
car; here its trail then goes to the speed-1 channel).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .core import DOWN, GRID, NOOP, UP, State, TorchGame, lookup

N_CARS = 8  # one car per lane, rows 1..8: fixed, so no capacity to overflow
PLAYER_COOLDOWN = 3
TIME_LIMIT = 2500
CHICKEN_X = 4


class Freeway(TorchGame):
    name = "freeway"
    channels = ("chicken", "car", "speed1", "speed2", "speed3", "speed4", "speed5")
    minimal_actions = (NOOP, UP, DOWN)
    # Each (re)draw of the traffic takes eight speeds, then eight directions, lane by lane.
    reset_slots = tuple(f"speed_{i}" for i in range(N_CARS)) + tuple(
        f"dir_{i}" for i in range(N_CARS)
    )
    step_slots = reset_slots

    def start(self, u: Tensor) -> State:
        velocity = _traffic(u)
        # no terminal flag: the game is over exactly when time < 0
        return {**_luts(u.device)["start"], "car_timer": velocity.abs(), "car_speed": velocity}

    def advance(self, s: State, action: Tensor, u: Tensor) -> tuple[State, Tensor, Tensor]:
        lut = _luts(action.device)
        cooldown = s["move_timer"]
        delta = torch.where(cooldown == 0, lookup(lut["move"], action), 0)
        pos = (s["pos"] + delta).clamp_(0, GRID - 1)
        # A move attempt ('down' on the bottom row too) restarts the cooldown at 3; the
        # end-of-step decrement leaves 2, or counts an idle cooldown down to 0.
        cooldown = (cooldown - 1).clamp_(min=0) + delta.abs() * (PLAYER_COOLDOWN - 1)
        # Crossing: score, and new traffic before the cars move (the chicken goes back below).
        crossed = pos == 0
        redraw = crossed.unsqueeze(1)
        velocity = torch.where(redraw, _traffic(u), s["car_speed"])
        magnitude = velocity.abs()
        timer = torch.where(redraw, magnitude, s["car_timer"])
        # Cars: a car whose timer is 0 moves one column (wrapping) and restarts its timer.
        x = s["car_x"]
        due = timer == 0
        shift = torch.where(due, lookup(lut["heading"], velocity + 5), 0)
        x_next = lookup(lut["wrap"], x + shift + 1)
        timer = torch.where(due, magnitude, timer - 1)
        # Only lane pos's car can reach the chicken (once knocked to row 9 nothing else can);
        # a crossing chicken is on row 0, where no car drives.
        on_cell = (x == CHICKEN_X) | (x_next == CHICKEN_X)
        hit = (on_cell & (lut["rows"] == pos.unsqueeze(1))).any(1)
        time = s["time"] - 1
        out = {
            "pos": torch.where(crossed | hit, GRID - 1, pos),
            "move_timer": cooldown,
            "time": time,
            "car_x": x_next,
            "car_timer": timer,
            "car_speed": velocity,
        }
        return out, crossed.float(), time < 0

    def finished(self, s: State) -> Tensor:
        return s["time"] < 0

    def observe_cells(self, s: State) -> Tensor:
        lut = _luts(s["pos"].device)
        x, velocity = s["car_x"], s["car_speed"]
        magnitude = velocity.abs()
        # Speed-0 quirk: borrow the magnitude of the nearest earlier car with a non-zero speed.
        source = torch.where(magnitude > 0, lut["lanes"], 0).cummax(1).values
        channel_base = lookup(lut["trail_base"], magnitude.gather(1, source))
        back = lookup(lut["wrap"], x - lookup(lut["heading"], velocity + 5) + 1)
        return torch.cat(
            [
                lookup(lut["chicken"], s["pos"]).unsqueeze(1),
                lut["car_base"] + x,
                channel_base + lut["row_base"] + back,
            ],
            dim=1,
        )


def _traffic(u: Tensor) -> Tensor:
    """Signed car speeds [N, 8] from a slot block laid out as 8 speeds then 8 directions.

    Speed = randint(1, 6); direction = sign(u - 0.5), so u == 0.5 gives speed 0 (see the quirk above).
    """
    # uniform_int(u, 1, 6) in float32, exact for these small integers
    speed = torch.floor(u[:, :N_CARS] * 5.0).clamp_(max=4.0).add_(1.0)
    return speed.mul_(torch.sign(u[:, N_CARS : 2 * N_CARS] - 0.5)).long()


_LUT_CACHE: dict[torch.device, dict] = {}


def _luts(device: torch.device) -> dict:
    """Lane and lookup tables and the start's constants on `device` (built once per device)."""
    if device not in _LUT_CACHE:
        cells = GRID * GRID
        lanes = torch.arange(N_CARS, device=device).unsqueeze(0)
        rows = lanes + 1
        moves = [0] * 6
        moves[UP], moves[DOWN] = -1, 1

        def table(values: list) -> Tensor:
            return torch.tensor(values, dtype=torch.int64, device=device)

        _LUT_CACHE[device] = {
            "lanes": lanes,
            "rows": rows,
            "row_base": rows * GRID,
            "car_base": cells + rows * GRID,  # channel 1
            "move": table(moves),  # row change by full-set action
            "heading": table([-1] * 6 + [1] * 5),  # by velocity + 5: speed 0 drives left
            "wrap": table([GRID - 1, *range(GRID), 0]),  # by column + 1, for columns -1..10
            "chicken": table([row * GRID + CHICKEN_X for row in range(GRID)]),
            # trail channel offset by speed magnitude (0 only for the first lane's quirk)
            "trail_base": table([(max(m, 1) + 1) * cells for m in range(6)]),
            "start": {  # batch size 1; the traffic (car_timer, car_speed) is drawn
                "pos": table([GRID - 1]),
                "move_timer": table([PLAYER_COOLDOWN]),
                "time": table([TIME_LIMIT]),
                "car_x": table([[0] * N_CARS]),
            },
        }
    return _LUT_CACHE[device]
